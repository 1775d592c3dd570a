-- Issue 12, division routing: the value map `division_routing` (published name
-- `OUTL-BRT-DRMSID-TO-DACSID`) maps a division to the grid instance that serves it.
ALTER TABLE value_maps DROP CONSTRAINT value_maps_map_check;
ALTER TABLE value_maps ADD CONSTRAINT value_maps_map_check
    CHECK (map IN ('event_type', 'device_specification', 'instance_routing', 'id_mapping', 'division_routing'));
