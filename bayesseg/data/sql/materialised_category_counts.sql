-- Author × category counts materialised in schema $aggregates (AUTHOR_CATEGORY_COUNTS: AUTHORID, CATEGORY, N),
-- in the order streaming needs: by author, then category.
SELECT AUTHORID, CATEGORY, N FROM $aggregates.AUTHOR_CATEGORY_COUNTS ORDER BY AUTHORID, CATEGORY
