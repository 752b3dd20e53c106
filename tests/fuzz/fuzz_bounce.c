/* fuzz_bounce - libFuzzer target for bounce_parse (and the JSON writer).
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined;
 * seeded with tests/fixtures/bounces and, when present, the external peer
 * corpus (tests/fuzz/run.sh).
 */
#include <stddef.h>
#include <stdint.h>

#include "bounce_parse.h"
#include "buf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct bounce_report *r = NULL;
	diag d = DIAG_INIT;
	buf out = BUF_INIT;

	if (!quiet) {
		log_init("fuzz_bounce");
		log_set_level(LOG_LVL_ERR);
		quiet = 1;
	}
	if (bounce_parse(data, size, &r, &d) == 0) {
		enum bounce_kind k;
		bounce_report_json(r, "fuzz", &out);
		for (size_t i = 0; i < r->n; i++)
			(void)bounce_reason(r->v[i].diagnostic, r->v[i].status, r->v[i].reply, &k);
		bounce_report_free(r);
	}
	buf_free(&out);
	return 0;
}
