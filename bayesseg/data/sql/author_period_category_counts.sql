-- Author × period × category label counts, long and sparse: one row per (author, period, category)
-- with N > 0. The counting rules of author_category_counts.sql, with each image dated by its first
-- post of the author (an image in several posts counts once, in the period of its first post), so
-- that the periods' counts sum to the author's counts. PERIOD is the first day of the period
-- ($period: 'WEEK' gives Mondays, 'MONTH' first days of months, 'QUARTER' of quarters).
WITH taxonomy AS ($taxonomy),
first_seen AS (
    SELECT AUTHORID, IMAGE_ID, MIN(POST_PUBLICATION_DATE) AS PUBLISHED
    FROM $schema.MART_IMAGES_OF_POSTS
    GROUP BY AUTHORID, IMAGE_ID
),
image_labels AS (
    SELECT DISTINCT IMAGE_ID, TYPE, LABEL_NAME FROM $schema.MART_IMAGES_LABELS
)
SELECT fs.AUTHORID AS AUTHORID, CAST(DATE_TRUNC('$period', fs.PUBLISHED) AS DATE) AS PERIOD,
       t.CATEGORY AS CATEGORY, COUNT(*) AS N
FROM first_seen fs
JOIN image_labels il ON il.IMAGE_ID = fs.IMAGE_ID
JOIN taxonomy t ON t.TYPE = il.TYPE AND t.LABEL_NAME = il.LABEL_NAME
WHERE t.CATEGORY IS NOT NULL
GROUP BY fs.AUTHORID, CAST(DATE_TRUNC('$period', fs.PUBLISHED) AS DATE), t.CATEGORY
ORDER BY AUTHORID, PERIOD, CATEGORY
