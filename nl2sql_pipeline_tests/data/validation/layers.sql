-- Validation cases on the concert_singer demo (stadium, singer, concert, singer_in_concert).
-- Each case: a line "-- expect: LAYER | FRAGMENT" (LAYER is pass, syntax, schema or execution;
-- FRAGMENT must appear in the reason), then the SQL, then a blank line.

-- expect: pass |
WITH old AS (SELECT name, age FROM singer WHERE age > 40) SELECT name FROM old ORDER BY age

-- expect: pass |
WITH counts(stadium, n) AS (SELECT stadium_id, count(*) FROM concert GROUP BY stadium_id) SELECT s.name, c.n FROM stadium AS s JOIN counts AS c ON s.stadium_id = c.stadium

-- expect: pass |
WITH a AS (SELECT singer_id FROM singer_in_concert), b AS (SELECT singer_id FROM a GROUP BY singer_id) SELECT count(*) FROM b

-- expect: pass |
SELECT t.name FROM (SELECT name, country FROM singer) AS t WHERE t.country = 'France'

-- expect: pass |
SELECT name FROM singer AS s WHERE age > (SELECT avg(age) FROM singer WHERE country = s.country)

-- expect: pass |
SELECT name FROM stadium WHERE stadium_id IN (SELECT stadium_id FROM concert WHERE year = '2014')

-- expect: pass |
SELECT * FROM singer WHERE EXISTS (SELECT 1 FROM singer_in_concert AS sic WHERE sic.singer_id = singer.singer_id)

-- expect: pass |
SELECT country, count(*) AS n FROM singer GROUP BY country HAVING n > 1 ORDER BY n DESC

-- expect: pass |
SELECT T1.name, T2.concert_name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id

-- expect: pass |
SELECT name FROM singer WHERE country = "France"

-- expect: pass |
SELECT s.* FROM singer AS s ORDER BY s.age LIMIT 3

-- expect: pass |
SELECT name FROM stadium UNION SELECT name FROM singer ORDER BY name

-- expect: pass |
SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30

-- expect: pass |
SELECT q.n FROM (SELECT * FROM (SELECT count(*) AS n FROM concert) AS inner_q) AS q

-- expect: pass |
SELECT name, rank() OVER (PARTITION BY country ORDER BY age DESC) AS r FROM singer

-- expect: pass |
SELECT NAME, Age FROM SINGER WHERE Is_Male = 1

-- expect: pass | empty
SELECT name FROM singer WHERE age > 1000

-- expect: syntax | does not parse
SELECT name FROM singer WHERE

-- expect: execution | syntax
SELECT name, FROM singer

-- expect: syntax | does not parse
SELECT (name FROM singer

-- expect: syntax | exactly one statement
SELECT name FROM singer; DROP TABLE singer

-- expect: syntax | only queries
DELETE FROM singer

-- expect: schema | unknown table 'singers'
SELECT name FROM singers

-- expect: schema | unknown table 'performers'
SELECT s.name FROM singer AS s JOIN performers AS p ON s.singer_id = p.singer_id

-- expect: schema | unknown column 'nme'
SELECT nme FROM singer

-- expect: schema | unknown column 'salary'
SELECT name FROM singer WHERE salary > 100

-- expect: schema | unknown column 'genre'
SELECT name, age FROM singer JOIN singer_in_concert USING (singer_id) ORDER BY genre

-- expect: schema | unknown column 'height' in 's'
SELECT s.height FROM singer AS s

-- expect: schema | unknown column 'capacity' in 'T1'
SELECT T1.capacity FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.concert_id

-- expect: schema | 'x' is not a table or alias in FROM
SELECT x.name FROM singer AS s

-- expect: schema | 'stadium' is not a table or alias in FROM
SELECT stadium.name FROM singer

-- expect: schema | 'T3' is not a table or alias in FROM
SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id WHERE T3.year = '2014'

-- expect: schema | unknown column 'rating'
WITH old AS (SELECT name, age FROM singer) SELECT rating FROM old

-- expect: schema | unknown column 'country' in 'old'
WITH old AS (SELECT name, age FROM singer) SELECT old.country FROM old

-- expect: schema | unknown column 'nationality'
SELECT name FROM singer AS s WHERE age > (SELECT avg(age) FROM singer WHERE nationality = s.country)

-- expect: schema | unknown column 'genre'
SELECT country FROM singer GROUP BY country HAVING count(genre) > 1

-- expect: schema | unknown column 'ticket_price' in 't'
SELECT t.ticket_price FROM (SELECT name FROM stadium) AS t

-- expect: execution | runtime
SELECT name FROM singer WHERE singer_id = (SELECT singer_id FROM singer_in_concert) + abs(-9223372036854775808)

