description = [[
Sends its own SYN to each open TCP port of a host and writes a p0f-style signature of
the SYN+ACK that comes back, as p0f writes its raw_sig: version, TTL + hops from the
initial TTL, IP option length, MSS,
window and scale, the order of the TCP options, and p0f's quirks (df, id+, id-, ecn,
0+, seq-, ack+, uptr+, urgf+, pushf+, ts1-, opt+, exws, bad). Every port of one
machine answers alike, so a port whose signature differs from the rest of the host's
is answered by another stack: a port forwarded (DNAT) to another machine, a proxy, or
a load balancer.

The SYN carries Linux's options (MSS, SACK, timestamps, window scale), so that the
target answers with every option it has. Raw packets: needs a raw-packet scan run as
root. The probes of all ports wait at once, each on its own capture.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local stdnse = require "stdnse"
local rawpacket = require "rawpacket"

hostrule = function(host)
  return rawpacket.available() and nmap.get_ports(host, nil, "tcp", "open") ~= nil
end

-- MSS 1460, SACK permitted, timestamps (val 1, ecr 0), NOP, window scale 7.
local SYN_OPTIONS = "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"

-- The hops a received TTL has come, from the initial TTL it most likely started at.
local function hops(ttl)
  for _, start in ipairs({ 32, 64, 128, 255 }) do
    if ttl <= start then return start - ttl end
  end
  return 0
end

-- The window as p0f writes it: a multiple of the MSS (or of the MSS less the 12
-- bytes of timestamps, or of the MTU) where it is one, else the number.
local function window_text(window, mss, has_ts)
  if type(mss) == "number" and mss > 0 then
    if window % mss == 0 then return "mss*" .. (window // mss) end
    if has_ts and mss > 12 and window % (mss - 12) == 0 then
      return "mss*" .. (window // (mss - 12))
    end
    if window % (mss + 40) == 0 then return "mtu*" .. (window // (mss + 40)) end
  end
  return tostring(window)
end

-- p0f's signature of a dissected SYN+ACK.
local function signature(p)
  local ip, tcp = p.ip, p.tcp
  local layout, quirks, mss, scale, has_ts = {}, {}, "*", 0, false
  for _, o in ipairs(tcp.options) do
    if o.name == "eol" then
      layout[#layout + 1] = "eol+" .. (tcp.hl - 20 - #layout)
      break
    elseif o.name == "?" then
      layout[#layout + 1] = "?" .. o.kind
    else
      layout[#layout + 1] = o.name
    end
    if o.name == "mss" and o.value then mss = o.value end
    if o.name == "ws" and o.value then
      scale = o.value
      if o.value > 14 then quirks[#quirks + 1] = "exws" end
    end
    if o.name == "ts" then
      has_ts = true
      if o.ts_val == 0 then quirks[#quirks + 1] = "ts1-" end
    end
  end
  if ip.df then quirks[#quirks + 1] = "df" end
  if ip.df and ip.id ~= 0 then quirks[#quirks + 1] = "id+" end
  if not ip.df and ip.id == 0 then quirks[#quirks + 1] = "id-" end
  if (ip.tos & 3) ~= 0 then quirks[#quirks + 1] = "ecn" end
  if (tcp.reserved & 0x0e) ~= 0 then quirks[#quirks + 1] = "0+" end
  if tcp.seq == 0 then quirks[#quirks + 1] = "seq-" end
  if (tcp.flags & 0x10) == 0 and tcp.ack ~= 0 then quirks[#quirks + 1] = "ack+" end
  if (tcp.flags & 0x20) == 0 and tcp.urgent ~= 0 then quirks[#quirks + 1] = "uptr+" end
  if (tcp.flags & 0x20) ~= 0 then quirks[#quirks + 1] = "urgf+" end
  if (tcp.flags & 0x08) ~= 0 then quirks[#quirks + 1] = "pushf+" end
  if tcp.trailing_after_eol then quirks[#quirks + 1] = "opt+" end
  if tcp.options_malformed then quirks[#quirks + 1] = "bad" end
  return string.format("4:%d+%d:%d:%s:%s,%s:%s:%s:%s", ip.ttl, hops(ip.ttl), #ip.options,
    mss, window_text(tcp.window, mss, has_ts), scale, table.concat(layout, ","), table.concat(quirks, ","),
    tcp.payload_len > 0 and "+" or "0")
end

-- The signature of `port`'s SYN+ACK, or nil and why not.
local function probe(host, port)
  local sport, err = rawpacket.source_port()
  if not sport then return nil, err end
  local capture, why = rawpacket.capture { proto = "tcp", host = host.ip, lport = sport, rport = port }
  if not capture then return nil, why end
  local syn = rawpacket.tcp { dst = host.ip, sport = sport, dport = port, flags = "S",
    window = 64240, df = true, tcp_options = SYN_OPTIONS }
  for _ = 1, 2 do
    local sent, send_err = rawpacket.send(syn)
    if not sent then capture:close() return nil, send_err end
    local deadline = nmap.clock_ms() + 1500
    while nmap.clock_ms() < deadline do
      local ok, packet = capture:receive(deadline - nmap.clock_ms())
      if not ok then break end
      local p = rawpacket.dissect(packet)
      if p.tcp and (p.tcp.flags & 0x12) == 0x12 then
        capture:close()
        return signature(p)
      end
    end
  end
  capture:close()
  return nil, "no SYN+ACK"
end

action = function(host)
  local ports, sigs, threads = {}, {}, {}
  local done = nmap.condvar(sigs)
  local port = nmap.get_ports(host, nil, "tcp", "open")
  while port do
    ports[#ports + 1] = port.number
    local number = port.number
    local co = stdnse.new_thread(function()
      sigs[number] = { probe(host, number) }
      done("signal")
    end)
    threads[co] = true
    port = nmap.get_ports(host, port, "tcp", "open")
  end
  repeat
    for co in pairs(threads) do
      if coroutine.status(co) == "dead" then threads[co] = nil end
    end
    if next(threads) then done("wait") end
  until next(threads) == nil

  -- The host's own signature is the one most of its ports share.
  local counts, common, most = {}, nil, 0
  for _, number in ipairs(ports) do
    local sig = sigs[number] and sigs[number][1]
    if sig then
      counts[sig] = (counts[sig] or 0) + 1
      if counts[sig] > most then common, most = sig, counts[sig] end
    end
  end
  local out = stdnse.output_table()
  for _, number in ipairs(ports) do
    local sig, err = table.unpack(sigs[number] or {})
    local key = number .. "/tcp"
    if not sig then
      out[key] = "no signature: " .. tostring(err)
    elseif sig ~= common and most > 1 then
      out[key] = sig .. " (differs from the host's other ports: another machine answers)"
    else
      out[key] = sig
    end
  end
  return out
end
