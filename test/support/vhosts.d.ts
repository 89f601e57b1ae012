// Types of vhosts.js (plain JavaScript: jest's global setup and test environment load it untranspiled).
export function baseAmqpUrl(): string;
export function testVhostName(what: string): string;
export function withVhost(amqpUrl: string, name: string): string;
export function createVhost(amqpUrl: string, name: string): Promise<void>;
export function dropVhost(amqpUrl: string, name: string): Promise<void>;
export function sweepVhosts(amqpUrl: string, run?: number): Promise<string[]>;
