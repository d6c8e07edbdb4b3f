-- 财务月报（每月 1 日由 BI 定时任务执行）
-- 维护人：财务信息化组; 注意: 分号; 在注释里不分句
-- question: 2024年每个月已付款订单的总金额是多少？
SELECT strftime('%Y-%m', order_date) AS month, SUM(amount) AS total_amount
FROM sales_order
WHERE status = 2 AND order_date >= '2024-01-01' AND order_date < '2025-01-01'
GROUP BY strftime('%Y-%m', order_date)
ORDER BY month;

/* 客户销售额排名：窗口函数 */
SELECT c.cust_name, SUM(o.amount) AS total,
       RANK() OVER (ORDER BY SUM(o.amount) DESC) AS rnk
FROM customer c
JOIN sales_order o ON o.cust_id = c.cust_id
GROUP BY c.cust_name;

-- 近半年各销售员订单数（CTE）
WITH recent AS (
    SELECT order_id, staff_id FROM sales_order WHERE order_date >= '2024-07-01'
)
SELECT staff_id, COUNT(*) AS orders FROM recent GROUP BY staff_id ORDER BY orders DESC;

SELECT name,
       CASE status WHEN 1 THEN '在职' ELSE '离职' END AS state   -- 在职状态翻译; not a statement end
FROM staff
WHERE dept_id = 2;

-- 按季度统计（日期函数）
SELECT (CAST(strftime('%m', order_date) AS INTEGER) + 2) / 3 AS quarter, COUNT(*) FROM sales_order GROUP BY 1;
