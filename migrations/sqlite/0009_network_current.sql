-- Every network node with its parent now (the open effective-dated link; NULL for a
-- substation or a node not linked yet) and since when: the one named query for the current
-- topology. Both engines inline the view, so a query over it plans as the join it stands for.
CREATE VIEW network_current AS
SELECT n.id, n.kind, n.code, n.name, n.rated_kva, n.created_at,
       e.parent_id, e.valid_from AS linked_from
FROM network_nodes n
LEFT JOIN network_edges e ON e.child_id = n.id AND e.valid_to IS NULL;
