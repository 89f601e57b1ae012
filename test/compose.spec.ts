import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '@bm/config';
import { projects } from '../nest-cli.json';

// There is no Docker engine on our machines: docker-compose.yml and deploy/Dockerfile are
// checked statically here, against the apps that actually exist and the config they load.
const ROOT = resolve(__dirname, '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
const APPS = Object.entries(projects)
  .filter(([name, p]) => p.type === 'application' && name !== 'cli')
  .map(([name]) => name);
const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');

describe('docker-compose.yml', () => {
  it('has rabbitmq with the management UI and postgres, both with healthchecks', () => {
    const { rabbitmq, postgres } = compose.services;
    expect(rabbitmq.image).toMatch(/^rabbitmq:[0-9.]+-management$/);
    expect(rabbitmq.healthcheck?.test).toBeDefined();
    expect(postgres.image).toMatch(/^postgres:15/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
  });

  it('runs the schema migration once before the services', () => {
    const m = compose.services.migrate;
    expect(m.command).toEqual(['bmctl', 'db', 'sync']);
    expect(m.depends_on?.postgres.condition).toBe('service_healthy');
    expect(dockerfile).toMatch(/ln -s \/opt\/nova-bm\/apps\/cli\/bin\/bmctl\.js \/usr\/local\/bin\/bmctl/);
  });

  it.each(APPS)('%s: a service built from deploy/Dockerfile, with its env and a healthcheck', (app) => {
    const s = compose.services[app];
    expect(s).toBeDefined();
    expect(s.build).toEqual({ context: '.', dockerfile: 'deploy/Dockerfile' });
    expect(s.command).toEqual(['node', `dist/apps/${app}/main.js`]);
    const env = s.environment!;
    for (const key of ['DATABASE_URL', 'TRANSPORT_URL', 'BM_HOST', 'BM_HEALTH_PORT']) expect(env).toHaveProperty(key);
    expect(s.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${env.BM_HEALTH_PORT}/healthz`);
    expect(s.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      rabbitmq: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    // The environment it gets is a valid configuration naming the compose postgres and broker.
    const config = loadConfig({ env: { ...env, BM_HOST: 'lab-compute-1' } });
    const pg = compose.services.postgres.environment!;
    expect(config.baremetal.sql_connection).toBe(
      `postgresql://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
    );
    expect(config.default.transport_url).toMatch(/^rabbit:\/\/.*@rabbitmq:5672\/$/);
    expect(config.default.health_port).toBe(Number(env.BM_HEALTH_PORT));
  });

  it('gives every service its own health port', () => {
    const ports = APPS.map((a) => compose.services[a].environment!.BM_HEALTH_PORT);
    expect(new Set(ports).size).toBe(APPS.length);
  });
});

describe('deploy/Dockerfile', () => {
  it('builds on Node 20 and copies only paths that exist and are not docker-ignored', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS build$/m);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(copies.length).toBeGreaterThan(5);
    for (const src of copies) {
      expect([src, existsSync(join(ROOT, src))]).toEqual([src, true]);
      expect(ignored.some((i) => src === i || src.startsWith(`${i}/`))).toBe(false);
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist']));
  });

  it('builds every app the compose file runs', () => {
    expect(dockerfile).toContain('RUN node scripts/build.js');
    const { projects: built } = JSON.parse(readFileSync(join(ROOT, 'nest-cli.json'), 'utf8'));
    for (const app of APPS) expect(built[app].type).toBe('application');
  });
});
