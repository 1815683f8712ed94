-- Data-quality checks of the detection boxes, read as $box_format: boxes whose corners are not numbers
-- or out of order (x2 < x1 or y2 < y1, a zero width or height included), and labels of the downstream models
-- (pattern, shoe, brand: every TYPE but object_detection) whose box is the box of no detected item
-- of their image ($same_item: intersection over union at least the spec's item_iou).
WITH boxes AS (
    SELECT l.IMAGE_ID, l.TYPE, $x1 AS X1, $y1 AS Y1, $x2 AS X2, $y2 AS Y2
    FROM $schema.MART_IMAGES_LABELS l
    WHERE l.POSITION_IN_IMAGE IS NOT NULL AND $array_size(l.POSITION_IN_IMAGE) = 4
),
valid AS (
    SELECT * FROM boxes WHERE X2 > X1 AND Y2 > Y1
),
items AS (
    SELECT DISTINCT IMAGE_ID, X1, Y1, X2, Y2 FROM valid WHERE TYPE = 'object_detection'
),
labelled AS (
    SELECT IMAGE_ID, X1, Y1, X2, Y2, COUNT(*) AS N_ROWS
    FROM valid WHERE TYPE <> 'object_detection'
    GROUP BY IMAGE_ID, X1, Y1, X2, Y2
),
on_item AS (
    SELECT DISTINCT d.IMAGE_ID, d.X1, d.Y1, d.X2, d.Y2, d.N_ROWS
    FROM labelled d JOIN items a ON a.IMAGE_ID = d.IMAGE_ID
    WHERE $same_item
)
SELECT 'position_inverted' AS CHECK_NAME,
       (SELECT COUNT(*) FROM boxes WHERE NOT COALESCE(X2 > X1 AND Y2 > Y1, FALSE)) AS N,
       (SELECT COUNT(*) FROM boxes) AS TOTAL
UNION ALL
SELECT 'labels_without_item',
       (SELECT COALESCE(SUM(N_ROWS), 0) FROM labelled) - (SELECT COALESCE(SUM(N_ROWS), 0) FROM on_item),
       (SELECT COALESCE(SUM(N_ROWS), 0) FROM labelled)
