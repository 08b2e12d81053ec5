"""One repository per aggregate; `UnitOfWork` gives them a shared transaction."""
