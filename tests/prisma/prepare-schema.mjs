// Writes the seed application's schema (the repository's prisma/schema.prisma) with the one
// change the tests need: a generator that uses the JS query engine (engineType "client", no
// native library) and writes the client inside tests/prisma. Datasource, enums and models
// stay byte for byte what the seed application ships.
//
//   node prepare-schema.mjs [DEST]    (default: build/schema.prisma, client in build/client)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const SOURCE_SCHEMA = resolve(here, '../../prisma/schema.prisma')
export const CLIENT_DIR = resolve(here, 'build/client')

export function testSchema(source = readFileSync(SOURCE_SCHEMA, 'utf8'), dest) {
  const generator = /generator\s+client\s*\{[^}]*\}/
  if (!generator.test(source)) throw new Error(`no "generator client" block in ${SOURCE_SCHEMA}`)
  const output = relative(dirname(dest), CLIENT_DIR).split('\\').join('/')
  return source.replace(
    generator,
    [
      'generator client {',
      '  provider   = "prisma-client-js"',
      '  engineType = "client"',
      `  output     = "${output}"`,
      '}',
    ].join('\n'),
  )
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dest = resolve(process.argv[2] ?? resolve(here, 'build/schema.prisma'))
  mkdirSync(dirname(dest), { recursive: true })
  writeFileSync(dest, testSchema(undefined, dest))
  console.log(`wrote ${dest}`)
}
