// The seed application's documented queries and writes, and the NextAuth Prisma adapter,
// run with Prisma Client (JS engine, adapter-pg) against DATABASE_URL.
//
//   DATABASE_URL=... node seed-ops.mjs [--staff-user-id ID] [--tag TAG] [--out report.json]
//
// Every operation runs even if an earlier one failed; the report (JSON, on stdout and in
// --out) says for each one ok or the error Prisma gave (code, message, meta). It also names
// the users made here, so that the Python side can look at them:
//   users.full      a user with an account, a session, a post, a subscription, payments and
//                   a Stripe customer (all written by Prisma)
//   users.negative  a user whose balance was decremented below zero ({ id, email, tokens })
//   users.nextauth  a user created and kept by the NextAuth adapter
//   staffDelete     the result of deleting --staff-user-id (a user who is Backoffice staff)
// Exit status: 0 when the report was written (whatever it says), 2 on a setup failure.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import clientModule from './build/client/index.js'
import nextAuthAdapterModule from '@next-auth/prisma-adapter'
import { PrismaPg } from '@prisma/adapter-pg'

const { PrismaClient } = clientModule
const { PrismaAdapter } = nextAuthAdapterModule
const CUID = /^c[a-z0-9]{24}$/

const { values: args } = parseArgs({
  options: {
    'staff-user-id': { type: 'string' },
    tag: { type: 'string', default: randomBytes(4).toString('hex') },
    out: { type: 'string' },
  },
})
const url = process.env.DATABASE_URL
if (!url) {
  console.error('DATABASE_URL must be set')
  process.exit(2)
}
const tag = args.tag
// errorFormat 'minimal': no code frame (the generated runtime is minified, so a frame is noise).
const prisma = new PrismaClient({
  adapter: new PrismaPg({ connectionString: url }),
  errorFormat: 'minimal',
})
const nextAuth = PrismaAdapter(prisma)

const report = { ok: true, tag, users: {}, staffDelete: null, ops: [] }

function describe(error) {
  return {
    name: error?.constructor?.name ?? typeof error,
    code: error?.code ?? null,
    message: String(error?.message ?? error).trim(),
    meta: error?.meta ?? null,
  }
}

async function op(name, fn) {
  try {
    const value = await fn()
    report.ops.push({ name, ok: true })
    return value
  } catch (error) {
    report.ok = false
    report.ops.push({ name, ok: false, error: describe(error) })
    return undefined
  }
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`)
}

const email = (who) => `prisma-${who}-${tag}@example.com`
const days = (n) => new Date(Date.now() + n * 86_400_000)

// --- Users: create with cuid ids, read, include everything ---------------------------------
const full = await op('user.create (full)', async () => {
  const user = await prisma.user.create({ data: { email: email('full'), name: 'Prisma Full' } })
  check(CUID.test(user.id), `cuid id, got ${user.id}`)
  check(user.role === 'USER' && user.membershipStatus === 'ACTIVE' && user.tokens === 0, 'defaults')
  return user
})
report.users.full = full?.id ?? null

await op('user.createMany', async () => {
  const { count } = await prisma.user.createMany({
    data: [1, 2, 3].map((n) => ({ email: email(`many${n}`), name: `Prisma Many ${n}` })),
  })
  check(count === 3, `3 users, got ${count}`)
})
await op('user.findUnique by email', async () => {
  const user = await prisma.user.findUnique({ where: { email: email('full') } })
  check(user?.id === full?.id, 'found the created user')
})
await op('user.findMany (recent, paged)', async () => {
  const users = await prisma.user.findMany({ orderBy: { createdAt: 'desc' }, take: 20, skip: 0 })
  check(users.length > 0, 'some users')
})
await op('user.count', async () => check((await prisma.user.count()) > 0, 'users counted'))

// --- Stripe mirror: upserts as the webhook handler writes them -----------------------------
const productId = `prod_prisma_${tag}`
const priceId = `price_prisma_${tag}`
await op('stripeProduct.upsert (create)', () =>
  prisma.stripeProduct.upsert({
    where: { id: productId },
    create: { id: productId, name: 'Prisma Plan', tokens: 100, metadata: { tier: 'pro' } },
    update: {},
  }),
)
await op('stripeProduct.upsert (update)', async () => {
  const product = await prisma.stripeProduct.upsert({
    where: { id: productId },
    create: { id: productId, name: 'Prisma Plan', tokens: 100 },
    update: { name: 'Prisma Plan v2', description: 'updated', active: true, tokens: 120 },
  })
  check(product.name === 'Prisma Plan v2' && product.tokens === 120, 'updated')
})
await op('stripePrice.upsert', () =>
  prisma.stripePrice.upsert({
    where: { id: priceId },
    create: {
      id: priceId,
      productId,
      unitAmount: 1900,
      currency: 'usd',
      interval: 'month',
      intervalCount: 1,
      type: 'recurring',
    },
    update: { unitAmount: 1900, active: true },
  }),
)
await op('stripeCustomer.upsert', () =>
  prisma.stripeCustomer.upsert({
    where: { userId: full?.id ?? 'missing' },
    create: { userId: full?.id, stripeCustomerId: `cus_prisma_${tag}` },
    update: { stripeCustomerId: `cus_prisma_${tag}` },
  }),
)
await op('stripeCustomer.findUnique by stripeCustomerId', async () => {
  const customer = await prisma.stripeCustomer.findUnique({
    where: { stripeCustomerId: `cus_prisma_${tag}` },
    include: { user: true },
  })
  check(customer?.user?.id === full?.id, 'customer -> user')
})
for (const [label, status] of [
  ['create', 'active'],
  ['update', 'past_due'],
  ['update back', 'active'],
]) {
  await op(`userSubscription.upsert (${label})`, () =>
    prisma.userSubscription.upsert({
      where: { stripeSubscriptionId: `sub_prisma_${tag}` },
      create: {
        userId: full?.id,
        stripeSubscriptionId: `sub_prisma_${tag}`,
        stripeProductId: productId,
        stripePriceId: priceId,
        status,
        currentPeriodStart: days(-3),
        currentPeriodEnd: days(27),
      },
      update: { status, cancelAtPeriodEnd: false, currentPeriodEnd: days(27) },
    }),
  )
}
await op('user.update (membership from subscription)', () =>
  prisma.user.update({
    where: { id: full?.id ?? 'missing' },
    data: {
      role: 'PREMIUM',
      membershipStatus: 'ACTIVE',
      stripeProduct: { connect: { id: productId } },
      tokens: { increment: 120 },
      tokensExpiresAt: days(30),
    },
  }),
)
for (const n of [1, 2]) {
  await op(`paymentHistory.upsert (${n})`, () =>
    prisma.paymentHistory.upsert({
      where: { stripePaymentIntentId: `pi_prisma_${tag}_${n}` },
      create: {
        userId: full?.id,
        stripePaymentIntentId: `pi_prisma_${tag}_${n}`,
        amount: 1900,
        currency: 'usd',
        status: 'succeeded',
      },
      update: { status: 'succeeded' },
    }),
  )
}
await op('userSubscription.findMany active', async () => {
  const subs = await prisma.userSubscription.findMany({
    where: { userId: full?.id, status: 'active' },
    include: { stripeProduct: true, stripePrice: true },
  })
  check(subs.length === 1 && subs[0].stripePrice.id === priceId, 'one active subscription')
})

// --- BlogPost CRUD ------------------------------------------------------------------------
const original = 'A short original text the post was generated from.'
const post = await op('blogPost.create', () =>
  prisma.blogPost.create({
    data: {
      userId: full?.id,
      title: 'Prisma post',
      content: '## Hello\n\nWritten by Prisma.',
      originalText: original,
      imageUrl: 'https://example.com/image.png',
      imagePrompt: 'a cat',
      characterCount: original.length,
      slug: `prisma-post-${tag}`,
    },
  }),
)
await op('blogPost.findMany (user, newest first)', async () => {
  const posts = await prisma.blogPost.findMany({
    where: { userId: full?.id },
    orderBy: { createdAt: 'desc' },
  })
  check(posts.length === 1 && posts[0].tokensUsed === 1 && !posts[0].isPublished, 'defaults')
})
await op('blogPost.update (publish)', () =>
  prisma.blogPost.update({
    where: { id: post?.id ?? 'missing' },
    data: { isPublished: true, publishedAt: new Date(), title: 'Prisma post (edited)' },
  }),
)
await op('blogPost.findUnique by slug', async () => {
  const found = await prisma.blogPost.findUnique({ where: { slug: `prisma-post-${tag}` } })
  check(found?.isPublished === true, 'published')
})
await op('blogPost.create + delete', async () => {
  const doomed = await prisma.blogPost.create({
    data: { userId: full?.id, title: 'To delete', content: 'x', originalText: 'x', characterCount: 1 },
  })
  await prisma.blogPost.delete({ where: { id: doomed.id } })
  check((await prisma.blogPost.findUnique({ where: { id: doomed.id } })) === null, 'deleted')
})
await op('blogPost.deleteMany (none)', () =>
  prisma.blogPost.deleteMany({ where: { slug: `no-such-slug-${tag}` } }),
)

// --- Tokens: set, increment, decrement (also below zero) ----------------------------------
const negative = await op('user.create (negative balance)', () =>
  prisma.user.create({ data: { email: email('negative'), name: 'Prisma Negative' } }),
)
await op('tokens set', async () => {
  const user = await prisma.user.update({ where: { id: negative?.id }, data: { tokens: 3 } })
  check(user.tokens === 3, 'set to 3')
})
await op('tokens increment', async () => {
  const user = await prisma.user.update({
    where: { id: negative?.id },
    data: { tokens: { increment: 2 } },
  })
  check(user.tokens === 5, 'incremented to 5')
})
await op('tokens decrement below zero', async () => {
  const user = await prisma.user.update({
    where: { id: negative?.id },
    data: { tokens: { decrement: 8 } },
  })
  check(user.tokens === -3, `decremented to -3, got ${user.tokens}`)
})
await op('tokens decrement (generation, guarded)', async () => {
  // What the seed app does per generated post: take one token only if there is one.
  const { count } = await prisma.user.updateMany({
    where: { id: full?.id, tokens: { gte: 1 } },
    data: { tokens: { decrement: 1 } },
  })
  check(count === 1, 'one token taken')
})
const negativeRow = negative && (await prisma.user.findUnique({ where: { id: negative.id } }))
report.users.negative = negativeRow
  ? { id: negativeRow.id, email: negativeRow.email, tokens: negativeRow.tokens }
  : null

// --- NextAuth adapter --------------------------------------------------------------------
async function nextAuthLifecycle(who, { keep }) {
  const user = await op(`nextauth.createUser (${who})`, async () => {
    const created = await nextAuth.createUser({
      email: email(who),
      name: `NextAuth ${who}`,
      emailVerified: null,
      image: null,
    })
    check(CUID.test(created.id), 'cuid id')
    return created
  })
  await op(`nextauth.getUserByEmail (${who})`, async () =>
    check((await nextAuth.getUserByEmail(email(who)))?.id === user?.id, 'found'),
  )
  const account = {
    userId: user?.id,
    type: 'oauth',
    provider: 'google',
    providerAccountId: `google-${who}-${tag}`,
    access_token: 'ya29.prisma-access',
    refresh_token: '1//prisma-refresh',
    id_token: 'eyJ.prisma-id',
    expires_at: Math.floor(Date.now() / 1000) + 3600,
    token_type: 'Bearer',
    scope: 'openid email profile',
  }
  await op(`nextauth.linkAccount (${who})`, () => nextAuth.linkAccount(account))
  await op(`nextauth.getUserByAccount (${who})`, async () => {
    const found = await nextAuth.getUserByAccount({
      provider: 'google',
      providerAccountId: account.providerAccountId,
    })
    check(found?.id === user?.id, 'found by account')
  })
  const sessionToken = `prisma-session-${who}-${tag}`
  await op(`nextauth.createSession (${who})`, () =>
    nextAuth.createSession({ sessionToken, userId: user?.id, expires: days(30) }),
  )
  await op(`nextauth.getSessionAndUser (${who})`, async () => {
    const found = await nextAuth.getSessionAndUser(sessionToken)
    check(found?.user?.id === user?.id && found.session.sessionToken === sessionToken, 'found')
  })
  await op(`nextauth.updateSession (${who})`, () =>
    nextAuth.updateSession({ sessionToken, expires: days(31) }),
  )
  await op(`nextauth.updateUser (${who})`, () =>
    nextAuth.updateUser({ id: user?.id, emailVerified: new Date(), image: 'https://e.x/a.png' }),
  )
  if (!keep) {
    await op(`nextauth.deleteSession (${who})`, () => nextAuth.deleteSession(sessionToken))
    await op(`nextauth.getSessionAndUser after delete (${who})`, async () =>
      check((await nextAuth.getSessionAndUser(sessionToken)) === null, 'gone'),
    )
    // A second session, to be removed by deleteUser's cascade.
    await op(`nextauth.createSession again (${who})`, () =>
      nextAuth.createSession({ sessionToken: `${sessionToken}-2`, userId: user?.id, expires: days(1) }),
    )
    await op(`nextauth.unlinkAccount (${who})`, () =>
      nextAuth.unlinkAccount({ provider: 'google', providerAccountId: account.providerAccountId }),
    )
    await op(`nextauth.deleteUser (${who})`, () => nextAuth.deleteUser(user?.id))
    await op(`nextauth.getUser after delete (${who})`, async () =>
      check((await nextAuth.getUser(user?.id ?? 'missing')) === null, 'gone'),
    )
  }
  return user
}

const kept = await nextAuthLifecycle('nextauth', { keep: true })
report.users.nextauth = kept?.id ?? null
await nextAuthLifecycle('nextauth-deleted', { keep: false })

const identifier = email('magic-link')
const token = `prisma-verification-${tag}`
await op('nextauth.createVerificationToken', () =>
  nextAuth.createVerificationToken({ identifier, token, expires: days(1) }),
)
await op('nextauth.useVerificationToken', async () => {
  const used = await nextAuth.useVerificationToken({ identifier, token })
  check(used?.token === token, 'used once')
})
await op('nextauth.useVerificationToken again (null)', async () =>
  check((await nextAuth.useVerificationToken({ identifier, token })) === null, 'second use null'),
)

// --- The include query, on a Prisma-made user and on a demo user --------------------------
const everything = {
  accounts: true,
  sessions: true,
  blogPosts: true,
  subscriptions: true,
  payments: true,
  stripeCustomer: true,
  stripeProduct: true,
}
await op('user.findUnique include everything (Prisma-made)', async () => {
  // The full user gets its NextAuth rows here so that every relation has something in it.
  await prisma.account.create({
    data: {
      userId: full?.id,
      type: 'oauth',
      provider: 'github',
      providerAccountId: `github-full-${tag}`,
      access_token: 'gho_prisma',
    },
  })
  await prisma.session.create({
    data: { userId: full?.id, sessionToken: `prisma-session-full-${tag}`, expires: days(30) },
  })
  const user = await prisma.user.findUnique({ where: { id: full?.id }, include: everything })
  check(user.accounts.length === 1 && user.sessions.length === 1, 'accounts, sessions')
  check(user.blogPosts.length === 1 && user.subscriptions.length === 1, 'posts, subscriptions')
  check(user.payments.length === 2 && user.stripeCustomer && user.stripeProduct, 'billing')
})
await op('user.findFirst include everything (demo user with payments)', async () => {
  const user = await prisma.user.findFirst({
    where: { payments: { some: {} }, NOT: { email: { startsWith: 'prisma-' } } },
    include: everything,
    orderBy: { createdAt: 'asc' },
  })
  check(user && user.payments.length > 0, 'a demo user with payments')
})
await op('user.findMany with _count', async () => {
  const users = await prisma.user.findMany({
    take: 5,
    include: { _count: { select: { blogPosts: true, payments: true, sessions: true } } },
  })
  check(users.length > 0, 'counted')
})

// --- Deletes ------------------------------------------------------------------------------
await op('user.delete (cascades)', async () => {
  const doomed = await prisma.user.create({
    data: {
      email: email('deleted'),
      sessions: { create: { sessionToken: `prisma-session-deleted-${tag}`, expires: days(1) } },
      blogPosts: { create: { title: 't', content: 'c', originalText: 'o', characterCount: 1 } },
      payments: {
        create: { stripePaymentIntentId: `pi_prisma_deleted_${tag}`, amount: 1, currency: 'usd', status: 'succeeded' },
      },
    },
  })
  await prisma.user.delete({ where: { id: doomed.id } })
  check((await prisma.session.count({ where: { userId: doomed.id } })) === 0, 'sessions gone')
})
await op('user.deleteMany (createMany users)', async () => {
  const { count } = await prisma.user.deleteMany({ where: { email: { startsWith: `prisma-many` } } })
  check(count === 3, `3 deleted, got ${count}`)
})

if (args['staff-user-id']) {
  const userId = args['staff-user-id']
  try {
    const deleted = await prisma.user.delete({ where: { id: userId } })
    report.staffDelete = { userId, ok: true, email: deleted.email }
    report.ops.push({ name: 'user.delete (Backoffice staff member)', ok: true })
  } catch (error) {
    report.ok = false
    report.staffDelete = { userId, ok: false, error: describe(error) }
    report.ops.push({ name: 'user.delete (Backoffice staff member)', ok: false, error: describe(error) })
  }
}

await prisma.$disconnect()
const text = JSON.stringify(report, null, 2)
if (args.out) writeFileSync(args.out, text + '\n')
console.log(text)
