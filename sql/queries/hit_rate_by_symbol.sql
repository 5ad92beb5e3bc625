-- Hit rate and average direction-signed return by symbol.
-- hit_rate counts only BUY/SELL signals (a HOLD has no direction to be right about);
-- avg_return is the mean realised return in the signal's direction (HOLD counts 0).
SELECT symbol,
       COUNT(*) AS n_signals,
       COUNT(hit) AS n_directional,
       AVG(CAST(hit AS DOUBLE PRECISION)) AS hit_rate,
       AVG(direction_return) AS avg_return,
       AVG(CASE WHEN first_hit = 'TARGET' THEN 1.0 ELSE 0.0 END) AS target_first_rate,
       AVG(CASE WHEN first_hit = 'STOP' THEN 1.0 ELSE 0.0 END) AS stop_first_rate
FROM signal_results
GROUP BY symbol
ORDER BY symbol;
