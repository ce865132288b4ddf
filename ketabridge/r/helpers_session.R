# Helpers ketabridge/bridge/session.py calls by name when it loads the ketabridge/r/*.R files (never through
# call_entry, which calls only the entry points: kb_<name> of each kb_<name>.R).

kb_versions <- function() {
  list(
    r = paste(R.version$major, R.version$minor, sep = "."),
    r_home = R.home(),
    metafor = if (requireNamespace("metafor", quietly = TRUE)) as.character(utils::packageVersion("metafor")) else NA_character_
  )
}

# Byte-compile every kb_* function once, when the files are loaded, as an installed R package
# is: otherwise R's JIT compiles them inside the first analyses of every process (about 0.2 s,
# most of what the first batch chunk spends beyond metafor itself).
kb_compile <- function(env) {
  for (name in ls(env)) {
    value <- get(name, envir = env)
    if (is.function(value)) assign(name, compiler::cmpfun(value), envir = env)
  }
  invisible(NULL)
}
