// The driver adapter the Prisma CLI (Migrate, with the JS/wasm schema engine) uses here:
// @prisma/adapter-pg with two fixes, both needed on PostgreSQL as of adapter-pg 6.19.3.
//
// 1. Catalog types. The schema engine's introspection queries return columns of PostgreSQL's
//    catalog types `name` (OID 19) and `"char"` (OID 18). adapter-pg has no column-type mapping
//    for either, and every migrate command fails with "Column type 'name' could not be
//    deserialized" (upstream prisma/orm#27403). Here:
//    - `name` columns are reported as text (pg already hands them over as JS strings);
//    - `"char"` columns are reported as Character, the type the engine reads them as.
//      Reporting them as text is not enough: the engine reads pg_constraint.contype of CHECK
//      and EXCLUDE constraints as a char and panics ("RuntimeError: unreachable" in the wasm
//      engine) on a text value, which is why `db pull` and `migrate dev` crashed on any
//      database with a CHECK constraint. With Character they introspect such databases.
//    The OIDs are rewritten in a pg Client subclass (pg-pool's documented `Client` option);
//    the Character column type is set on the adapter's queryRaw result. adapter-pg itself is
//    not patched.
//
// 2. Shadow database. adapter-pg's connectToShadowDb() creates
//    `prisma_migrate_shadow_db_<uuid>` and connects with `{ ...config, database }`, but in `pg`
//    a connection string wins over `database`, so the shadow connection silently points at the
//    live database. Here the shadow database is named from the target database
//    (`<target>_shadow`, so a scratch `test_p_*` database gets a `test_p_*_shadow` one), the
//    URL itself is rewritten, and the database is dropped when Prisma disposes of it.
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { ColumnTypeEnum } from '@prisma/driver-adapter-utils'

const CHAR_OID = 18
const NAME_OID = 19
const TEXT_OID = 25

// The rows array of a pg result (adapter-pg passes it through to its queryRaw result as is)
// -> the indexes of its `"char"` columns.
const charColumns = new WeakMap()

function retypeCatalogColumns(result) {
  for (const one of Array.isArray(result) ? result : [result]) {
    const chars = []
    for (const [index, field] of (one?.fields ?? []).entries()) {
      if (field.dataTypeID === NAME_OID) field.dataTypeID = TEXT_OID
      if (field.dataTypeID === CHAR_OID) {
        field.dataTypeID = TEXT_OID
        chars.push(index)
      }
    }
    if (chars.length && Array.isArray(one.rows)) charColumns.set(one.rows, chars)
  }
  return result
}

export class CatalogTypesClient extends pg.Client {
  query(config, values, callback) {
    if (config && typeof config.submit === 'function') return super.query(config, values, callback)
    if (typeof values === 'function') {
      return super.query(config, (err, res) => values(err, err ? res : retypeCatalogColumns(res)))
    }
    if (typeof callback === 'function') {
      return super.query(config, values, (err, res) =>
        callback(err, err ? res : retypeCatalogColumns(res)),
      )
    }
    return super.query(config, values).then(retypeCatalogColumns)
  }
}

function withCharColumns(queryable) {
  const queryRaw = queryable.queryRaw.bind(queryable)
  queryable.queryRaw = async (query) => {
    const result = await queryRaw(query)
    for (const index of charColumns.get(result.rows) ?? []) {
      result.columnTypes[index] = ColumnTypeEnum.Character
    }
    return result
  }
  if (typeof queryable.startTransaction === 'function') {
    const startTransaction = queryable.startTransaction.bind(queryable)
    queryable.startTransaction = async (...args) => withCharColumns(await startTransaction(...args))
  }
  return queryable
}

// allowExitOnIdle: the CLI does not always dispose of the adapter, and without it the process
// waits for pg-pool's idle timeout (10 s) before it exits.
const poolConfig = (url) => ({
  connectionString: url,
  Client: CatalogTypesClient,
  allowExitOnIdle: true,
})

export function shadowDatabaseUrl(url) {
  const parsed = new URL(url)
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  if (!name) throw new Error(`DATABASE_URL names no database: ${url}`)
  const shadow = `${name}_shadow`
  parsed.pathname = `/${encodeURIComponent(shadow)}`
  return { name: shadow, url: parsed.toString() }
}

const quoteIdent = (name) => `"${name.replaceAll('"', '""')}"`

async function onMaintenanceConnection(url, statements) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const sql of statements) await client.query(sql)
  } finally {
    await client.end()
  }
}

export class BackofficePg extends PrismaPg {
  constructor(url, options) {
    super(poolConfig(url), options)
    this.url = url
  }

  async connect() {
    return withCharColumns(await super.connect())
  }

  async connectToShadowDb() {
    const shadow = shadowDatabaseUrl(this.url)
    const name = quoteIdent(shadow.name)
    await onMaintenanceConnection(this.url, [
      `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`,
      `CREATE DATABASE ${name}`,
    ])
    const adapter = withCharColumns(await new PrismaPg(poolConfig(shadow.url)).connect())
    const dispose = adapter.dispose.bind(adapter)
    adapter.dispose = async () => {
      await dispose()
      await onMaintenanceConnection(this.url, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`])
    }
    return adapter
  }
}

export function requireDatabaseUrl() {
  const url = process.env.DATABASE_URL
  if (!url) throw new Error('DATABASE_URL must be set (and must name the database to use)')
  return url
}
