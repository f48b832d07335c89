"""All models, imported here so that the metadata is complete wherever one is used."""

from dashboard.models.audit import AuditLog
from dashboard.models.base import Base, cuid, utcnow
from dashboard.models.billing import (
    PaymentHistory,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    UserSubscription,
)
from dashboard.models.jobs import Job, JobStatus
from dashboard.models.moderation import UserModeration
from dashboard.models.posts import BlogPost, PostSeo
from dashboard.models.staff import STAFF_ROLE_RANK, StaffAccount, StaffRole
from dashboard.models.stripe_sync import (
    StripeEventRecord,
    StripeSyncMark,
    StripeUnlinkedCustomer,
    StripeUserRefresh,
)
from dashboard.models.support import PaymentRefund
from dashboard.models.tokens import LedgerKind, TokenLedgerEntry
from dashboard.models.users import (
    Account,
    MembershipStatus,
    Session,
    User,
    UserRole,
    VerificationToken,
)

# The tables the seed application's Prisma schema owns. Backoffice may only add nullable or
# defaulted columns to these; everything else it needs lives in tables of its own.
SHARED_TABLES = (
    "User",
    "Account",
    "Session",
    "VerificationToken",
    "BlogPost",
    "StripeProduct",
    "StripePrice",
    "StripeCustomer",
    "UserSubscription",
    "PaymentHistory",
)

__all__ = [
    "SHARED_TABLES",
    "STAFF_ROLE_RANK",
    "Account",
    "AuditLog",
    "PaymentRefund",
    "Job",
    "JobStatus",
    "LedgerKind",
    "StaffAccount",
    "StaffRole",
    "TokenLedgerEntry",
    "Base",
    "BlogPost",
    "MembershipStatus",
    "PostSeo",
    "PaymentHistory",
    "Session",
    "StripeCustomer",
    "StripeEventRecord",
    "StripePrice",
    "StripeProduct",
    "StripeSyncMark",
    "StripeUnlinkedCustomer",
    "StripeUserRefresh",
    "User",
    "UserRole",
    "UserModeration",
    "UserSubscription",
    "VerificationToken",
    "cuid",
    "utcnow",
]
