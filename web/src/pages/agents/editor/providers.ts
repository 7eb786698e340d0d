/**
 * Which LLM providers an agent's runs can actually use here, so the editor never starts on (or quietly saves)
 * a provider without a key: such runs end `dead` with `provider_not_configured`.
 *
 * A provider works when the server has a key for it (`GET /v1/system/info` → `llm_providers`, which always
 * lists the offline mock) or when the organisation stored a default credential for it (the gateway looks up
 * the one named "default"). Only admins may list the organisation's credentials; for others that half is
 * unknown, and the editor's warning says so.
 */
import { useQuery } from '@tanstack/react-query';
import { integrationQueries } from '../../../api/queries/integrations';
import { systemQueries } from '../../../api/queries/system';
import { usePermissions } from '../../../app/auth';
import type { Provider } from './draft';

export interface ProviderAvailability {
  /** Providers this agent's runs can use (the mock always). */
  usable: Provider[];
  /** Whether the organisation's own credentials were looked at (admins only). */
  orgChecked: boolean;
  /** Still asking the server. */
  pending: boolean;
}

/** The credential the gateway uses when a model names none. */
const DEFAULT_CREDENTIAL = 'default';

const PROVIDER_NAMES: Record<Provider, string> = { openai: 'OpenAI', anthropic: 'Anthropic', mock: 'mock' };
export const providerName = (provider: Provider) => PROVIDER_NAMES[provider];

export function useProviderAvailability(): ProviderAvailability {
  const { can } = usePermissions();
  const mayListCredentials = can('providers:manage');
  const info = useQuery(systemQueries.info());
  const credentials = useQuery({ ...integrationQueries.providers(), enabled: mayListCredentials });
  const usable = new Set<Provider>(['mock', ...(info.data?.llm_providers ?? [])]);
  for (const credential of credentials.data ?? []) {
    if (credential.name === DEFAULT_CREDENTIAL && (credential.provider === 'openai' || credential.provider === 'anthropic')) {
      usable.add(credential.provider);
    }
  }
  return {
    usable: [...usable],
    orgChecked: mayListCredentials && credentials.isSuccess,
    pending: info.isPending || (mayListCredentials && credentials.isPending),
  };
}

/** The provider a new agent starts on: a real one that works here, else the offline mock. */
export function defaultProvider(usable: Provider[]): Provider {
  return (['openai', 'anthropic'] as const).find((provider) => usable.includes(provider)) ?? 'mock';
}

/** Why runs on `provider` would fail here, or null when they can run (or the mock, which always can). */
export function providerProblem(provider: Provider, availability: ProviderAvailability): string | null {
  if (availability.pending || availability.usable.includes(provider)) return null;
  const name = providerName(provider);
  return availability.orgChecked
    ? `Neither this server nor your organisation has an ${name} key: runs on this model will fail (provider_not_configured). Add a default ${name} credential under Settings → Integrations, or choose another provider.`
    : `This server has no ${name} key: runs on this model will fail (provider_not_configured) unless your organisation has a default ${name} credential (an admin adds it under Settings → Integrations).`;
}
