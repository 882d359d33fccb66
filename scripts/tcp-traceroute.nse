description = [[
Lists the routers between the scanner and a host the way 0trace does: it opens a TCP
connection to an open port, then sends copies of one of the connection's own segments
with growing IP time-to-live. Each router where a copy's TTL runs out answers with an
ICMP time-exceeded that quotes it, and the copy that gets through reaches the host
itself, which answers it as a repeat of data it already has. Because the probes
belong to an established connection, firewalls that pass the connection pass them
too: routes show that a classic traceroute cannot get through.

Uses port 80 if open, else the first open TCP port. Raw packets: needs a raw-packet
scan run as root.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local stdnse = require "stdnse"
local rawpacket = require "rawpacket"

local MAX_HOPS = 16

local function pick_port(host)
  local first
  local port = nmap.get_ports(host, nil, "tcp", "open")
  while port do
    if port.number == 80 then return 80 end
    first = first or port.number
    port = nmap.get_ports(host, port, "tcp", "open")
  end
  return first
end

hostrule = function(host)
  return rawpacket.available() and pick_port(host) ~= nil
end

-- The first packet from `capture` within `ms` that `wanted` accepts, dissected.
local function wait_for(capture, ms, wanted)
  local deadline = nmap.clock_ms() + ms
  while nmap.clock_ms() < deadline do
    local ok, packet = capture:receive(math.max(1, deadline - nmap.clock_ms()))
    if not ok then return nil end
    local p = rawpacket.dissect(packet)
    if wanted(p) then return p end
  end
  return nil
end

-- Throws away what the capture holds now and what arrives within `ms`: a late
-- acknowledgement, or a router's answer to a copy already given up on, must not be
-- taken for the answer to the next copy.
local function drain(capture, ms)
  wait_for(capture, ms, function() return false end)
end

action = function(host)
  local port = pick_port(host)
  local socket = nmap.new_socket()
  socket:set_timeout(3000)
  local ok, err = socket:connect(host, port)
  if not ok then return stdnse.format_output(false, err) end
  local _, _, lport = socket:get_info()
  local capture, why = rawpacket.capture { proto = "tcp", host = host.ip, lport = lport, rport = port }
  if not capture then socket:close() return stdnse.format_output(false, why) end

  -- Two bytes of harmless data; the host's acknowledgement of them tells the
  -- connection's sequence numbers.
  socket:send("\r\n")
  local from_host = function(p)
    return p.tcp and p.ip.src == host.ip and (p.tcp.flags & 0x10) ~= 0
  end
  local ack = wait_for(capture, 2000, from_host)
  if not ack then
    capture:close() socket:close()
    return stdnse.format_output(false, "the connection's sequence numbers did not show")
  end
  -- The copy: our last byte again, which the host has and acknowledges anew.
  local probe = { dst = host.ip, sport = lport, dport = port, flags = "PA",
    seq = (ack.tcp.ack - 1) % 4294967296, ack = ack.tcp.seq, window = 502, payload = "\n" }

  -- The host may acknowledge the two bytes more than once (a delayed or window
  -- update ACK): what comes in now is not an answer to any copy.
  drain(capture, 100)
  local hops = {}
  for ttl = 1, MAX_HOPS do
    probe.ttl = ttl
    local answer
    for _ = 1, 2 do
      drain(capture, 1)
      rawpacket.send(rawpacket.tcp(probe))
      answer = wait_for(capture, 700, function(p)
        return (p.icmp and p.icmp.type == 11) or from_host(p)
      end)
      if answer then break end
    end
    if not answer then
      hops[#hops + 1] = ("%d  *"):format(ttl)
    elseif answer.icmp then
      hops[#hops + 1] = ("%d  %s"):format(ttl, answer.ip.src)
    else
      hops[#hops + 1] = ("%d  %s (the host, port %d)"):format(ttl, host.ip, port)
      break
    end
  end
  capture:close()
  socket:close()
  return hops
end
