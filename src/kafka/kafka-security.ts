/**
 * TLS and SASL towards Kafka, one way for every kafkajs client the project makes (the
 * gateway's producer and metadata admin, the consumers): the command-line flags, their
 * checks, and the kafkajs `ssl` / `sasl` options they stand for.
 *
 * ```
 * --kafka-ssl                       TLS, brokers verified against the system CAs
 * --kafka-ca FILE                   ... against this PEM bundle instead (implies --kafka-ssl)
 * --kafka-sasl-mechanism M          plain | scram-sha-256 | scram-sha-512
 * --kafka-sasl-username U
 * --kafka-sasl-password P           or METRICSTREAM_KAFKA_SASL_PASSWORD (keeps it out of ps)
 * ```
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { oneOf, UsageError } from '../cli/args.ts';

/** The validated flags. */
export interface KafkaSecurityConfig {
  ssl: boolean;
  /** PEM CA bundle to verify the brokers with (implies ssl). */
  caFile: string | undefined;
  saslMechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  saslUsername: string | undefined;
  saslPassword: string | undefined;
}

/** What to spread into `new Kafka({...})`. */
export type KafkaSecurity = Pick<KafkaConfig, 'ssl' | 'sasl'>;

/** parseArgs option definitions of the flags, to spread into a CLI's options. */
export const KAFKA_SECURITY_OPTIONS = {
  'kafka-ssl': { type: 'boolean' },
  'kafka-ca': { type: 'string' },
  'kafka-sasl-mechanism': { type: 'string' },
  'kafka-sasl-username': { type: 'string' },
  'kafka-sasl-password': { type: 'string' },
} as const;

export const KAFKA_SECURITY_USAGE = `      --kafka-ssl          TLS to the brokers (system CAs unless --kafka-ca)
      --kafka-ca FILE      PEM CA bundle for the brokers (implies --kafka-ssl)
      --kafka-sasl-mechanism M  plain|scram-sha-256|scram-sha-512
      --kafka-sasl-username U
      --kafka-sasl-password P   or the METRICSTREAM_KAFKA_SASL_PASSWORD environment variable
                           (keeps the password out of ps)`;

/** Checks the flags (throws UsageError); the password may come from the environment. */
export function parseKafkaSecurity(
  values: { 'kafka-ssl'?: boolean; 'kafka-ca'?: string; 'kafka-sasl-mechanism'?: string; 'kafka-sasl-username'?: string; 'kafka-sasl-password'?: string },
  env: NodeJS.ProcessEnv = process.env,
): KafkaSecurityConfig {
  const mechanism = values['kafka-sasl-mechanism'] === undefined ? undefined : oneOf('kafka-sasl-mechanism', values['kafka-sasl-mechanism'], ['plain', 'scram-sha-256', 'scram-sha-512'] as const);
  const password = values['kafka-sasl-password'] ?? env.METRICSTREAM_KAFKA_SASL_PASSWORD;
  if (mechanism !== undefined && (values['kafka-sasl-username'] === undefined || password === undefined)) {
    throw new UsageError('--kafka-sasl-mechanism needs --kafka-sasl-username and --kafka-sasl-password (or METRICSTREAM_KAFKA_SASL_PASSWORD)');
  }
  if (mechanism === undefined && (values['kafka-sasl-username'] !== undefined || values['kafka-sasl-password'] !== undefined)) {
    throw new UsageError('--kafka-sasl-username/--kafka-sasl-password need --kafka-sasl-mechanism');
  }
  return {
    ssl: (values['kafka-ssl'] ?? false) || values['kafka-ca'] !== undefined,
    caFile: values['kafka-ca'] === undefined ? undefined : path.resolve(values['kafka-ca']),
    saslMechanism: mechanism,
    saslUsername: values['kafka-sasl-username'],
    saslPassword: mechanism === undefined ? undefined : password,
  };
}

/** The kafkajs options for `config` (reads the CA file; throws naming it). */
export function kafkaSecurityOptions(config: KafkaSecurityConfig | undefined): KafkaSecurity {
  if (config === undefined) return {};
  const out: KafkaSecurity = {};
  if (config.ssl) {
    if (config.caFile === undefined) out.ssl = true;
    else {
      try {
        out.ssl = { ca: [readFileSync(config.caFile, 'utf8')], rejectUnauthorized: true };
      } catch (e) {
        throw new Error(`--kafka-ca ${config.caFile}: ${(e as Error).message}`);
      }
    }
  }
  if (config.saslMechanism !== undefined) {
    out.sasl = { mechanism: config.saslMechanism, username: config.saslUsername!, password: config.saslPassword! } as SASLOptions;
  }
  return out;
}
