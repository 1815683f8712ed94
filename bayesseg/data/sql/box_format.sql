-- Evidence for the reading of POSITION_IN_IMAGE (its format is not published): of the boxes with four
-- numbers, how many have their third number above the first and their fourth above the second, as
-- corners [x1, y1, x2, y2] always do and corner-and-size [x, y, width, height] often do not.
SELECT COUNT(*) AS N_BOXES,
       COALESCE(SUM(CASE WHEN $b2 > $b0 AND $b3 > $b1 THEN 1 ELSE 0 END), 0) AS N_ORDERED
FROM $schema.MART_IMAGES_LABELS l
WHERE l.POSITION_IN_IMAGE IS NOT NULL AND $array_size(l.POSITION_IN_IMAGE) = 4
