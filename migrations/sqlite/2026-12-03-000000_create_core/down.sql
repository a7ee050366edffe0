DROP TABLE attempts;
DROP TABLE batches;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE webhooks;
DROP TABLE accounts;
