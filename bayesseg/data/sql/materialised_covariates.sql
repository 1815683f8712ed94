-- Author covariates materialised in schema $aggregates (AUTHOR_COVARIATES: the columns of author_covariates.sql),
-- ordered by author.
SELECT * FROM $aggregates.AUTHOR_COVARIATES ORDER BY AUTHORID
