-- Posts showing each trend, per (trend, author, week): the numerators of weekly trend shares.
-- A trend is one or more labels shown together in one image ($trends: TREND, TYPE, LABEL_NAME,
-- N_LABELS = the number of labels of the trend). An image shows the trend when it carries every
-- one of its labels (repeated detection boxes count once); a post shows it when any of its images
-- does; WEEK is the Monday of the post's ISO week (the week of author_week_activity.sql).
WITH trends AS ($trends),
image_labels AS (
    SELECT DISTINCT IMAGE_ID, TYPE, LABEL_NAME FROM $schema.MART_IMAGES_LABELS
),
image_trends AS (
    SELECT il.IMAGE_ID, t.TREND
    FROM image_labels il
    JOIN trends t ON t.TYPE = il.TYPE AND t.LABEL_NAME = il.LABEL_NAME
    GROUP BY il.IMAGE_ID, t.TREND
    HAVING COUNT(*) = MAX(t.N_LABELS)
),
post_trends AS (
    SELECT p.AUTHORID, p.POST_ID, it.TREND, MIN(p.POST_PUBLICATION_DATE) AS PUBLISHED
    FROM $schema.MART_IMAGES_OF_POSTS p
    JOIN image_trends it ON it.IMAGE_ID = p.IMAGE_ID
    GROUP BY p.AUTHORID, p.POST_ID, it.TREND
)
SELECT TREND, AUTHORID, $week_of_published AS WEEK, COUNT(*) AS N_POSTS
FROM post_trends
GROUP BY TREND, AUTHORID, $week_of_published
ORDER BY TREND, AUTHORID, WEEK
