"""The bottom layer every other part of Backoffice stands on: who acts (``actor``), how a
refusal reads (``errors``), what time it is (``clock``) and where a transaction begins and
ends (``transaction``). It imports nothing of the application."""
