import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Secrets generated on first run and kept in a git-ignored JSON file (mode 0600), so a second
 * start reuses them. Nothing secret is ever written into the repository.
 */
export class SecretStore {
  private readonly file: string;
  private readonly values: Record<string, string>;
  private dirty = false;

  constructor(file: string) {
    this.file = file;
    this.values = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  }

  /** The secret called name, generated (32 random bytes, base64url) the first time it is asked for. */
  get(name: string): string {
    let value = this.values[name];
    if (value === undefined) {
      value = randomBytes(32).toString('base64url');
      this.values[name] = value;
      this.dirty = true;
    }
    return value;
  }

  save(): void {
    if (!this.dirty) return;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileSync(this.file, JSON.stringify(this.values, null, 2) + '\n', { mode: 0o600 });
    this.dirty = false;
  }
}
