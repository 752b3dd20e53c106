-- oneclick.lua - wrk script: RFC 8058 one-click POSTs, each to another
-- subscriber's /u/TOKEN (from the file $BENCH_TOKENS, one path a line), so
-- every request is a real unsubscribe, not an idempotent repeat.
local nthreads = 0
function setup(thread)
	thread:set("tid", nthreads)
	nthreads = nthreads + 1
end

function init(args)
	paths = {}
	for line in io.lines(os.getenv("BENCH_TOKENS")) do
		paths[#paths + 1] = line
	end
	stride = tonumber(os.getenv("BENCH_THREADS"))
	i = tid
end

function request()
	local p = paths[(i % #paths) + 1]
	i = i + stride
	return wrk.format("POST", p,
		{ ["Content-Type"] = "application/x-www-form-urlencoded" },
		"List-Unsubscribe=One-Click")
end
