"""Extension objects, created unbound and attached to the app in create_app()."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from dashboard.core import transaction
from dashboard.models.base import Base

# join_transaction_mode lets the test harness run each test inside an outer transaction
# that services' own commit()/rollback() cannot end (they act on a savepoint instead). With a
# plain Engine bind, as in production, the option has no effect.
db = SQLAlchemy(
    model_class=Base,
    session_options={"join_transaction_mode": "create_savepoint"},
)
migrate = Migrate()

# Core knows no application object; this is where its unit of work learns which session it
# commits (looked up per call: db.session is scoped to the app context).
transaction.bind(lambda: db.session)
