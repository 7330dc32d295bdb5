-- First-start setup of the compose stack's PostgreSQL: the role Hearth connects as and one
-- database per service, each owned by that role. The postgres image runs this once, on an empty
-- data folder; change the password for anything but a machine of your own.
CREATE ROLE hearth WITH LOGIN PASSWORD 'hearth';

CREATE DATABASE hearth_events OWNER hearth;
CREATE DATABASE hearth_rsvps OWNER hearth;
CREATE DATABASE hearth_notifications OWNER hearth;
