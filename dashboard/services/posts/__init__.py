"""Blog posts: drafts, publishing and AI generation.

``generation`` charges, runs and refunds a generation job; ``generation_status`` describes
jobs for the pages; ``ai`` talks to OpenAI; ``drafts`` turns its answer into a post;
``media`` stores images; ``render`` turns Markdown into safe HTML; ``publishing`` publishes
and unpublishes.
"""
