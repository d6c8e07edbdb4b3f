-- 销售看板的查询
-- question: 信用等级为A的客户有多少个？
SELECT COUNT(*) FROM customer WHERE level = 'A';
SELECT COUNT(*) FROM customer WHERE level = 'B';  -- same template as above, another literal

SELECT product_name, list_price FROM product WHERE list_price > 100 ORDER BY list_price DESC LIMIT 5;
SELECT city, COUNT(*) FROM customer GROUP BY city;
SELECT T1.name FROM staff AS T1 JOIN dept AS T2 ON T1.dept_id = T2.dept_id WHERE T2.city = '苏州';
SELECT AVG(salary) FROM staff WHERE hire_date > '2020-01-01';
SELECT cust_name FROM customer WHERE cust_name LIKE '客户01%';
SELECT name FROM staff WHERE staff_id IN (SELECT manager_id FROM staff WHERE status = 2);
SELECT 'a;b' AS x, name FROM staff WHERE gender = 'F' AND salary >= 8000;
SELECT nmae FROM staff;
