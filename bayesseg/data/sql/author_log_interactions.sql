-- Per author, the mean over posts with visible likes of log(likes + comments): the geometric mean of interactions
-- per post, a less noisy measure of engagement than the arithmetic mean of author_covariates.sql (posts with
-- 0 likes are taken as hidden counts and left out).
WITH p AS (
    SELECT AUTHORID, POST_ID, MAX(NB_LIKES) AS L, MAX(COMMENT_COUNT) AS C
    FROM $schema.MART_IMAGES_OF_POSTS GROUP BY 1, 2
)
SELECT AUTHORID, AVG(LN(L + COALESCE(GREATEST(C, 0), 0))) AS LOG_INTERACTIONS
FROM p WHERE L > 0 GROUP BY 1 ORDER BY 1
