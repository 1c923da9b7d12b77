# lash-grpc server image. Nothing is compiled: the server runs its TypeScript through tsx (a
# runtime dependency) on the base image's Node 22; the `node` npm package (a second Node, for npm
# scripts on older system Nodes) is a dev dependency and never reaches the runtime stage.
# The runtime stage adds 117 MB of uncompressed layers to the base image (production node_modules
# 110 MB of content, app files 3 MB; scripts/measure-image.sh reproduces it on disk and measures).
# Read-only root friendly: writes go to /data (the embedded store) and /tmp (tsx's compile cache):
# docker run --read-only --tmpfs /tmp -v lash-data:/data …

# Stage 1: full install from the lockfile, and proof that the server's module graph loads.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY gen ./gen
COPY src ./src
RUN node --import tsx -e "import('./src/app.ts').then((m) => { if (typeof m.startApp !== 'function') process.exit(1); })"

# Stage 2: production dependencies only, owned by root and read-only to the server's user.
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 3: runtime. Base Node 22 + production node_modules + sources; non-root (uid 1000).
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/tsconfig.json ./
COPY --from=build /app/gen ./gen
COPY --from=build /app/src ./src
RUN mkdir -p /data && chown node:node /data && rm -rf /root/.npm
USER node
# Listening on 0.0.0.0 needs authentication (LASH_AUTH_TOKENS_FILE, LASH_AUTH_JWKS, …) or an
# explicit LASH_AUTH=none; without either the server exits with code 2 (see README, Authentication).
ENV LASH_LISTEN=0.0.0.0:50051 LASH_DATA_DIR=/data LASH_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 50051
STOPSIGNAL SIGTERM
# grpc.health.v1.Health/Check with raw bytes: empty request; response 0x08 0x01 = SERVING.
# Plaintext on 127.0.0.1 and the port of LASH_LISTEN; override this when TLS is on.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node --input-type=module -e "import grpc from '@grpc/grpc-js'; \
const port = (process.env.LASH_LISTEN || ':50051').split(':').pop(); \
const client = new grpc.Client('127.0.0.1:' + port, grpc.credentials.createInsecure()); \
client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b) => b, (b) => b, Buffer.alloc(0), { deadline: Date.now() + 4000 }, \
(err, res) => process.exit(!err && res.length === 2 && res[0] === 8 && res[1] === 1 ? 0 : 1));"
CMD ["node", "--experimental-async-context-frame", "--import", "tsx", "src/main.ts"]
