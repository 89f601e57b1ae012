// Integration tests talk to PostgreSQL and RabbitMQ, which may be restarting: 15 s per test.
jest.setTimeout(15_000);
