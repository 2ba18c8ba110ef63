"""Getting deliveries published: in-process workers (embedded) or arq jobs (distributed)."""
