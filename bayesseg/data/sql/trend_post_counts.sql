-- Posts showing each trend, per (trend, author, week): the numerators of weekly trend shares.
-- A trend is one or more labels ($trends: TREND, TYPE, LABEL_NAME, N_LABELS = the number of labels of
-- the trend, TERM = the label's place in it, SCOPE). SCOPE 'image': an image shows the trend when it
-- carries every one of its labels (repeated detection boxes count once). SCOPE 'item': when one box of
-- the first label (TERM 0, the item, e.g. a top) carries every other label on the same item
-- ($same_item: boxes read as $box_format, intersection over union at least the spec's item_iou);
-- boxes that are NULL, not of four numbers or with corners out of order carry no item (the
-- data-quality checks count them). A post shows the trend when any of its images does; WEEK is the
-- Monday of the post's ISO week (the week of author_week_activity.sql).
WITH trends AS ($trends),
image_labels AS (
    SELECT DISTINCT IMAGE_ID, TYPE, LABEL_NAME FROM $schema.MART_IMAGES_LABELS
),
image_level AS (
    SELECT il.IMAGE_ID, t.TREND
    FROM image_labels il
    JOIN trends t ON t.TYPE = il.TYPE AND t.LABEL_NAME = il.LABEL_NAME
    WHERE t.SCOPE = 'image'
    GROUP BY il.IMAGE_ID, t.TREND
    HAVING COUNT(*) = MAX(t.N_LABELS)
),
item_boxes AS (
    SELECT DISTINCT l.IMAGE_ID, t.TREND, t.TERM, t.N_LABELS, $x1 AS X1, $y1 AS Y1, $x2 AS X2, $y2 AS Y2
    FROM $schema.MART_IMAGES_LABELS l
    JOIN trends t ON t.TYPE = l.TYPE AND t.LABEL_NAME = l.LABEL_NAME
    WHERE t.SCOPE = 'item' AND l.POSITION_IN_IMAGE IS NOT NULL AND $array_size(l.POSITION_IN_IMAGE) = 4
),
valid_boxes AS (
    SELECT * FROM item_boxes WHERE X2 > X1 AND Y2 > Y1
),
item_matches AS (
    SELECT a.IMAGE_ID, a.TREND, MAX(a.N_LABELS) AS N_LABELS, COUNT(DISTINCT d.TERM) AS N_ON_ITEM
    FROM valid_boxes a
    JOIN valid_boxes d ON d.IMAGE_ID = a.IMAGE_ID AND d.TREND = a.TREND AND d.TERM > 0
    WHERE a.TERM = 0 AND $same_item
    GROUP BY a.IMAGE_ID, a.TREND, a.X1, a.Y1, a.X2, a.Y2
),
image_trends AS (
    SELECT IMAGE_ID, TREND FROM image_level
    UNION
    SELECT IMAGE_ID, TREND FROM item_matches WHERE N_ON_ITEM = N_LABELS - 1
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
