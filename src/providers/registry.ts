// Builds the model providers this server can call from its configuration: echo always, and
// each credentialed provider through its maintained AI SDK package.

import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { ProviderCredentials } from '../config.js';
import type { ModelProvider } from '../domain/turns/model.js';
import { AiSdkProvider } from './ai-sdk.js';
import { EchoProvider } from './echo.js';
import { ScriptedProvider } from './scripted.js';

export function buildProviders(creds: ProviderCredentials): Map<string, ModelProvider> {
  const providers = new Map<string, ModelProvider>([['echo', new EchoProvider()]]);
  if (creds.scripted) providers.set('scripted', new ScriptedProvider());
  if (creds.openaiApiKey) {
    const openai = createOpenAI({ apiKey: creds.openaiApiKey, baseURL: creds.openaiBaseUrl });
    // Chat completions: the protocol every OpenAI-compatible server speaks as well.
    providers.set('openai', new AiSdkProvider('openai', (id) => openai.chat(id)));
  }
  if (creds.openaiBaseUrl) {
    const compatible = createOpenAICompatible({ name: 'openai-compatible', baseURL: creds.openaiBaseUrl, apiKey: creds.openaiApiKey, includeUsage: true });
    providers.set('openai-compatible', new AiSdkProvider('openai-compatible', (id) => compatible.chatModel(id)));
  }
  if (creds.anthropicApiKey) {
    const anthropic = createAnthropic({ apiKey: creds.anthropicApiKey });
    providers.set('anthropic', new AiSdkProvider('anthropic', (id) => anthropic(id)));
  }
  if (creds.googleApiKey) {
    const google = createGoogleGenerativeAI({ apiKey: creds.googleApiKey });
    providers.set('google', new AiSdkProvider('google', (id) => google(id)));
  }
  return providers;
}
