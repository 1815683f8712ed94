-- Posting activity per (author, week): the denominators of weekly shares. WEEK is the Monday of
-- the post's ISO week; a post is one POST_ID, an image one IMAGE_ID counted at its first post.
WITH post_weeks AS (
    SELECT AUTHORID, POST_ID, MIN(POST_PUBLICATION_DATE) AS PUBLISHED
    FROM $schema.MART_IMAGES_OF_POSTS
    GROUP BY AUTHORID, POST_ID
),
image_weeks AS (
    SELECT AUTHORID, IMAGE_ID, MIN(POST_PUBLICATION_DATE) AS PUBLISHED
    FROM $schema.MART_IMAGES_OF_POSTS
    GROUP BY AUTHORID, IMAGE_ID
),
posts AS (
    SELECT AUTHORID, $week_of_published AS WEEK, COUNT(*) AS N_POSTS FROM post_weeks GROUP BY AUTHORID, $week_of_published
),
images AS (
    SELECT AUTHORID, $week_of_published AS WEEK, COUNT(*) AS N_IMAGES FROM image_weeks GROUP BY AUTHORID, $week_of_published
)
SELECT COALESCE(p.AUTHORID, i.AUTHORID) AS AUTHORID, COALESCE(p.WEEK, i.WEEK) AS WEEK,
       COALESCE(p.N_POSTS, 0) AS N_POSTS, COALESCE(i.N_IMAGES, 0) AS N_IMAGES
FROM posts p
FULL OUTER JOIN images i ON i.AUTHORID = p.AUTHORID AND i.WEEK = p.WEEK
ORDER BY AUTHORID, WEEK
