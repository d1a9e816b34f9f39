/*
 * h2o_lsan.c - LeakSanitizer settings for the programs built on h2o 2.2.5
 * (tollgate and mock-llm), linked into both so that every test that runs
 * them under ASan gets the same ones.
 *
 * h2o 2.2.5 keeps freed pool chunks and socket buffers on recycle lists
 * (h2o_mem_recycle_t, some of them thread-local), and has no call that
 * closes the HTTP/1 connections a client still holds open when the server
 * stops: at exit, the buffers of such idle keep-alive connections are
 * referenced only from the kernel's epoll data, and recycled chunks of a
 * finished thread only from its gone TLS, so LeakSanitizer can report them
 * although nothing is lost. Only allocations made by that recycler are
 * suppressed; anything our own code leaks is still reported.
 */
#ifdef __SANITIZE_ADDRESS__
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

/* Keeps the list of used suppressions off stderr, where the tests look for
 * sanitizer findings. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}
#else
typedef int h2o_lsan_unused; /* ISO C wants a declaration in every file */
#endif
