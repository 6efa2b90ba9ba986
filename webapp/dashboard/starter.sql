-- A new pipeline. Tables take rows: from the table page's form or an upload, INSERT in the query page,
-- or HTTP ingress. Views are queries the engine keeps up to date as rows arrive.
-- Change what you like, save (it compiles), then start the pipeline.

CREATE TABLE readings (
    sensor_id INT NOT NULL,
    taken_at TIMESTAMP NOT NULL,
    celsius DOUBLE NOT NULL,
    PRIMARY KEY (sensor_id, taken_at)
) WITH ('materialized' = 'true');

-- An aggregate: per sensor, how many readings and their range.
CREATE MATERIALIZED VIEW sensor_summary AS
    SELECT sensor_id, COUNT(*) AS readings, MIN(celsius) AS lowest, MAX(celsius) AS highest
    FROM readings
    GROUP BY sensor_id;

-- A filter: readings above 30 degrees.
CREATE MATERIALIZED VIEW hot_readings AS
    SELECT sensor_id, taken_at, celsius FROM readings WHERE celsius > 30;
