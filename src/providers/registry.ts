// Builds the model providers this server can call from its configuration: echo always, and
// each credentialed provider through its maintained AI SDK package, with the configured base
// URL (gateways), extra headers, request timeout and the secrets its errors must never show.

import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { providerSecrets, type ProviderCredentials } from '../provider-config.js';
import type { ModelProvider } from '../domain/turns/model.js';
import { AiSdkProvider } from './ai-sdk.js';
import { EchoProvider } from './echo.js';
import { ScriptedProvider } from './scripted.js';

export function buildProviders(creds: ProviderCredentials): Map<string, ModelProvider> {
  const providers = new Map<string, ModelProvider>([['echo', new EchoProvider()]]);
  const options = { secrets: providerSecrets(creds), timeoutMs: creds.timeoutMs };
  if (creds.scripted) providers.set('scripted', new ScriptedProvider());
  if (creds.openaiApiKey) {
    const openai = createOpenAI({ apiKey: creds.openaiApiKey, baseURL: creds.openaiBaseUrl, headers: creds.headers.openai });
    // Chat completions: the protocol every OpenAI-compatible server speaks as well.
    providers.set('openai', new AiSdkProvider('openai', (id) => openai.chat(id), options));
  }
  if (creds.openaiBaseUrl) {
    const compatible = createOpenAICompatible({
      name: 'openai-compatible',
      baseURL: creds.openaiBaseUrl,
      apiKey: creds.openaiApiKey,
      headers: creds.headers.openai,
      includeUsage: true,
    });
    providers.set('openai-compatible', new AiSdkProvider('openai-compatible', (id) => compatible.chatModel(id), options));
  }
  if (creds.anthropicApiKey) {
    const anthropic = createAnthropic({ apiKey: creds.anthropicApiKey, baseURL: creds.anthropicBaseUrl, headers: creds.headers.anthropic });
    providers.set('anthropic', new AiSdkProvider('anthropic', (id) => anthropic(id), { ...options, cacheBreakpoints: true }));
  }
  if (creds.googleApiKey) {
    const google = createGoogleGenerativeAI({ apiKey: creds.googleApiKey, baseURL: creds.googleBaseUrl, headers: creds.headers.google });
    providers.set('google', new AiSdkProvider('google', (id) => google(id), options));
  }
  return providers;
}
