description = [[
Writes the p0f-style signature of each open TCP port's SYN+ACK and the system it
matches in the SYN+ACK signature database, as p0f writes its raw_sig: version, TTL +
hops from the initial TTL, IP option length, MSS, window and scale, the order of the
TCP options, and p0f's quirks (df, id+, id-, ecn, 0+, seq-, ack+, uptr+, urgf+,
pushf+, ts1-, opt+, exws, bad). Every port of one machine answers alike, so a port
whose signature differs from the rest of the host's is answered by another stack: a
port forwarded (DNAT) to another machine, a proxy, or a load balancer.

It sends nothing: the SYN scan's own SYN+ACKs are read by the scanner as they arrive
(the SYN probes carry a client's options while scripts run, so that each reply shows
its stack's), and each open port's table has them as `port.synack` (`signature`,
and where the database knows it `os`, `class`, `generic`, `fuzzy`, `distance`).
Needs a raw SYN scan (-sS, as root); a connect scan has no SYN+ACKs to read.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local stdnse = require "stdnse"

-- The open TCP ports of `host` that have a SYN+ACK signature.
local function signed_ports(host)
  local ports = {}
  local port = nmap.get_ports(host, nil, "tcp", "open")
  while port do
    if port.synack then ports[#ports + 1] = port end
    port = nmap.get_ports(host, port, "tcp", "open")
  end
  return ports
end

hostrule = function(host)
  return #signed_ports(host) > 0
end

-- What the signature matched, as p0f names it.
local function matched(synack)
  if not synack.os then return "no match" end
  local text = synack.os
  if synack.generic then text = text .. " (generic)" end
  if synack.fuzzy then text = text .. " (fuzzy)" end
  if synack.distance then text = text .. ", " .. synack.distance .. " hops" end
  return text
end

action = function(host)
  local ports = signed_ports(host)
  -- The host's own signature is the one most of its ports share.
  local counts, common, most = {}, nil, 0
  for _, port in ipairs(ports) do
    local sig = port.synack.signature
    counts[sig] = (counts[sig] or 0) + 1
    if counts[sig] > most then common, most = sig, counts[sig] end
  end
  local out = stdnse.output_table()
  for _, port in ipairs(ports) do
    local sig = port.synack.signature
    local line = sig .. " -- " .. matched(port.synack)
    if sig ~= common and most > 1 then
      line = line .. " -- differs from the host's other ports: another machine answers"
    end
    out[port.number .. "/tcp"] = line
  end
  return out
end
