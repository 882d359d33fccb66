description = [[
Tells whether an on-link host's network interface is in promiscuous mode (a sniffer
runs there). It sends ARP requests for the host's address in frames to addresses no
interface takes in unless promiscuous: multicast addresses no one subscribes to and
broadcast-like ones. An interface that filters as it should answers only the
all-hosts group (M1) and the real broadcast (B); one in promiscuous mode answers the
rest too.

The tests, in order: B31 ff:ff:ff:ff:ff:fe, B16 ff:ff:00:00:00:00, B8
ff:00:00:00:00:00, G 01:00:00:00:00:00, M0 01:00:5e:00:00:00, M1 01:00:5e:00:00:01,
M3 01:00:5e:00:00:03, B ff:ff:ff:ff:ff:ff; each is 1 if answered, _ if not.

Raw packets: needs a raw-packet scan run as root, and the host on the same segment.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "intrusive" }

local stdnse = require "stdnse"
local rawpacket = require "rawpacket"

local TESTS = {
  { "B31", "ff:ff:ff:ff:ff:fe" }, { "B16", "ff:ff:00:00:00:00" },
  { "B8", "ff:00:00:00:00:00" }, { "G", "01:00:00:00:00:00" },
  { "M0", "01:00:5e:00:00:00" }, { "M1", "01:00:5e:00:00:01" },
  { "M3", "01:00:5e:00:00:03" }, { "B", "ff:ff:ff:ff:ff:ff" },
}
-- Tests a filtering interface answers too.
local EXPECTED = { M1 = true, B = true }

hostrule = function(host)
  return host.mac_addr ~= nil and rawpacket.available()
end

-- Whether the host answers an ARP request for its address sent to `mac`.
local function answers(capture, host, mac)
  local request = rawpacket.arp_request { target = host.ip, dst_mac = mac }
  for _ = 1, 2 do
    local sent, err = rawpacket.send_frame(request)
    if not sent then return nil, err end
    local ok, _, frame = capture:receive(300)
    if ok then
      local p = rawpacket.dissect(frame, true)
      if p.arp and p.arp.oper == 2 and p.arp.sender_ip == host.ip then return true end
    end
  end
  return false
end

action = function(host)
  local capture, err = rawpacket.capture { proto = "arp", host = host.ip }
  if not capture then return stdnse.format_output(false, err) end
  local results, promiscuous, answered = {}, false, 0
  for _, test in ipairs(TESTS) do
    local yes, why = answers(capture, host, test[2])
    if yes == nil then capture:close() return stdnse.format_output(false, why) end
    results[#results + 1] = yes and "1" or "_"
    if yes then
      answered = answered + 1
      if not EXPECTED[test[1]] then promiscuous = true end
    end
  end
  capture:close()
  local tests = table.concat(results)
  if promiscuous then
    return ("Likely in promiscuous mode (tests: \"%s\")"):format(tests)
  elseif answered == 0 then
    return nil
  end
  stdnse.debug(1, "not promiscuous (tests: \"%s\")", tests)
  return nil
end
