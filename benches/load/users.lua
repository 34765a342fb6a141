-- wrk script: GET /recommend/<user> with users drawn uniformly or by a Zipf law (exponent
-- 1.0), from environment variables USERS and DIST; prints p50/p95/p99 and throughput as JSON.
local users = tonumber(os.getenv("USERS") or "20000")
local dist = os.getenv("DIST") or "uniform"
local cdf = {}

local function zipf_cdf()
  local total = 0
  for i = 1, users do total = total + 1 / i end
  local acc = 0
  for i = 1, users do
    acc = acc + (1 / i) / total
    cdf[i] = acc
  end
end

local function zipf()
  local u = math.random()
  local lo, hi = 1, users
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo - 1
end

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed or 1)
  if dist == "zipf" then zipf_cdf() end
end

function request()
  local user = dist == "zipf" and zipf() or math.random(0, users - 1)
  return wrk.format("GET", "/recommend/" .. user .. "?k=10")
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.2f, "rps": %.1f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "errors": %d, "non_2xx": %d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
