-- Every (TYPE, LABEL_NAME) pair present in the data with its taxonomy status, so that nothing is
-- dropped silently: rows, distinct images, and STATUS = category | excluded | unknown.
WITH taxonomy AS ($taxonomy),
labels AS (
    SELECT TYPE, LABEL_NAME, COUNT(*) AS N_ROWS, COUNT(DISTINCT IMAGE_ID) AS N_IMAGES
    FROM $schema.MART_IMAGES_LABELS
    GROUP BY TYPE, LABEL_NAME
)
SELECT l.TYPE AS TYPE, l.LABEL_NAME AS LABEL_NAME, t.LABEL AS LABEL, t.CATEGORY AS CATEGORY,
       t.EXCLUDED_REASON AS EXCLUDED_REASON,
       CASE WHEN t.TYPE IS NULL THEN 'unknown'
            WHEN t.CATEGORY IS NULL THEN 'excluded'
            ELSE 'category' END AS STATUS,
       l.N_ROWS AS N_ROWS, l.N_IMAGES AS N_IMAGES
FROM labels l
LEFT JOIN taxonomy t ON t.TYPE = l.TYPE AND t.LABEL_NAME = l.LABEL_NAME
ORDER BY TYPE, LABEL_NAME
