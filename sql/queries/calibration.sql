-- Calibration of live directional signals: within each confidence bucket, the mean
-- stated confidence against the realised hit rate. A calibrated model has the two equal;
-- the gap, weighted by count, is the expected calibration error (analytics.py).
SELECT confidence_bucket,
       COUNT(*) AS n_signals,
       AVG(confidence) AS mean_confidence,
       AVG(CAST(hit AS DOUBLE PRECISION)) AS hit_rate
FROM signal_results
WHERE hit IS NOT NULL
GROUP BY confidence_bucket
ORDER BY confidence_bucket;
