-- The part of PostfixAdmin's schema that the lookup tables read (PostgreSQL).
CREATE TABLE domain (
  domain varchar(255) NOT NULL PRIMARY KEY,
  description varchar(255) NOT NULL DEFAULT '',
  backupmx boolean NOT NULL DEFAULT false,
  active boolean NOT NULL DEFAULT true
);
CREATE TABLE mailbox (
  username varchar(255) NOT NULL PRIMARY KEY,
  password varchar(255) NOT NULL DEFAULT '',
  name varchar(255) NOT NULL DEFAULT '',
  maildir varchar(255) NOT NULL DEFAULT '',
  quota bigint NOT NULL DEFAULT 0,
  local_part varchar(255) NOT NULL,
  domain varchar(255) NOT NULL,
  active boolean NOT NULL DEFAULT true
);
CREATE TABLE alias (
  address varchar(255) NOT NULL PRIMARY KEY,
  goto text NOT NULL,
  domain varchar(255) NOT NULL,
  active boolean NOT NULL DEFAULT true
);
CREATE TABLE alias_domain (
  alias_domain varchar(255) NOT NULL PRIMARY KEY,
  target_domain varchar(255) NOT NULL,
  active boolean NOT NULL DEFAULT true
);
