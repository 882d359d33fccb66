description = [[
Shows the certificate of a TLS service: subject, issuer, validity, and the TLS
version the handshake settled on. Any certificate is accepted: this reports, it does
not judge.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "default", "safe", "discovery" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.ssl

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  if not socket:connect(host, port, "ssl") then return nil end
  local cert = socket:get_ssl_certificate()
  socket:close()
  if not cert then return nil end
  local out = stdnse.output_table()
  out.Subject = cert.subject
  out.Issuer = cert.issuer
  out["Not valid before"] = cert.validity.notBefore
  out["Not valid after"] = cert.validity.notAfter
  out.Protocol = cert.protocol
  return out
end
