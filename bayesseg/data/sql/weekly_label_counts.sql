-- Weekly counts per (author, week, label) for the labels the taxonomy maps to a category.
-- WEEK is the Monday of the ISO week of the image's first publication by the author; an image in
-- several posts of the author counts once, at its first post. N_IMAGES: distinct images showing the
-- label; N_POSTS: distinct posts showing it.
WITH taxonomy AS ($taxonomy),
post_images AS (
    SELECT AUTHORID, POST_ID, IMAGE_ID, POST_PUBLICATION_DATE FROM $schema.MART_IMAGES_OF_POSTS
),
first_seen AS (
    SELECT AUTHORID, IMAGE_ID, MIN(POST_PUBLICATION_DATE) AS PUBLISHED
    FROM post_images
    GROUP BY AUTHORID, IMAGE_ID
),
image_labels AS (
    SELECT DISTINCT IMAGE_ID, TYPE, LABEL_NAME FROM $schema.MART_IMAGES_LABELS
)
SELECT fs.AUTHORID AS AUTHORID, $week_of_published AS WEEK, t.TYPE AS TYPE, t.LABEL_NAME AS LABEL_NAME,
       COUNT(DISTINCT fs.IMAGE_ID) AS N_IMAGES, COUNT(DISTINCT pi.POST_ID) AS N_POSTS
FROM first_seen fs
JOIN image_labels il ON il.IMAGE_ID = fs.IMAGE_ID
JOIN taxonomy t ON t.TYPE = il.TYPE AND t.LABEL_NAME = il.LABEL_NAME
JOIN post_images pi ON pi.AUTHORID = fs.AUTHORID AND pi.IMAGE_ID = fs.IMAGE_ID
                    AND pi.POST_PUBLICATION_DATE = fs.PUBLISHED
WHERE t.CATEGORY IS NOT NULL $label_filter
GROUP BY fs.AUTHORID, $week_of_published, t.TYPE, t.LABEL_NAME
ORDER BY AUTHORID, WEEK, TYPE, LABEL_NAME
