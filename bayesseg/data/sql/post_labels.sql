-- The labels of the first $limit posts (by POST_ID): one row per (post, TYPE, LABEL_NAME) detected in any of its
-- images, repeated detections collapsed. What `bayesseg rank` reads from a CSV, taken from the warehouse.
WITH posts AS (
    SELECT DISTINCT POST_ID FROM $schema.MART_IMAGES_OF_POSTS ORDER BY POST_ID LIMIT $limit
)
SELECT DISTINCT p.POST_ID AS POST_ID, l.TYPE AS TYPE, l.LABEL_NAME AS LABEL_NAME
FROM $schema.MART_IMAGES_OF_POSTS p
JOIN posts s ON s.POST_ID = p.POST_ID
JOIN $schema.MART_IMAGES_LABELS l ON l.IMAGE_ID = p.IMAGE_ID
ORDER BY POST_ID, TYPE, LABEL_NAME
