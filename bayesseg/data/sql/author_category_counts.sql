-- Author × category label counts, long and sparse: one row per (author, category) with N > 0.
-- A label counts once per image (repeated detection boxes collapse), an image once per author
-- (an image in several posts of the author counts once), labels map to categories through the
-- taxonomy; excluded and unknown labels do not count (they are reported by label_inventory.sql).
WITH taxonomy AS ($taxonomy),
author_images AS (
    SELECT DISTINCT AUTHORID, IMAGE_ID FROM $schema.MART_IMAGES_OF_POSTS
),
image_labels AS (
    SELECT DISTINCT IMAGE_ID, TYPE, LABEL_NAME FROM $schema.MART_IMAGES_LABELS
)
SELECT ai.AUTHORID AS AUTHORID, t.CATEGORY AS CATEGORY, COUNT(*) AS N
FROM author_images ai
JOIN image_labels il ON il.IMAGE_ID = ai.IMAGE_ID
JOIN taxonomy t ON t.TYPE = il.TYPE AND t.LABEL_NAME = il.LABEL_NAME
WHERE t.CATEGORY IS NOT NULL
GROUP BY ai.AUTHORID, t.CATEGORY
ORDER BY AUTHORID, CATEGORY
