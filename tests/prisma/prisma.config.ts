// Prisma CLI configuration for the tests: the JS/wasm schema engine through adapter.mjs
// (adapter-pg plus the catalog-type and shadow-database fixes). No engine binary is used or
// downloaded. DATABASE_URL must be set; --schema on the command line picks the schema file
// (the migrations folder is the one beside it).
import { defineConfig } from 'prisma/config'
import { BackofficePg, requireDatabaseUrl } from './adapter.mjs'

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'build/schema.prisma',
  async adapter() {
    return new BackofficePg(requireDatabaseUrl())
  },
})
