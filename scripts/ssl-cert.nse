description = [[
Shows the certificate of a TLS service as nmap's ssl-cert does: subject and issuer,
subject alternative names, the public key's type and size, the signature algorithm,
the validity, and the MD5 and SHA-1 digests (the subject, alternative names and
validity alone when a category, not its name, selected it and -v was not given). Any certificate is accepted: this
reports, it does not judge.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "default", "safe", "discovery" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.ssl

-- The four attributes nmap names first, in its order; the rest follow by name.
local FIRST = { "commonName", "organizationName", "stateOrProvinceName", "countryName" }

local function name_text(name)
  local parts, seen = {}, {}
  for _, key in ipairs(FIRST) do
    if name[key] then
      parts[#parts + 1] = key .. "=" .. name[key]
      seen[key] = true
    end
  end
  local rest = {}
  for key in pairs(name) do
    if not seen[key] then rest[#rest + 1] = key end
  end
  table.sort(rest)
  for _, key in ipairs(rest) do parts[#parts + 1] = key .. "=" .. name[key] end
  return table.concat(parts, "/")
end

-- RFC 3339 without the zone letter, as nmap writes the dates.
local function date(text)
  return (text:gsub("Z$", ""))
end

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  if not socket:connect(host, port, "ssl") then return nil end
  local cert = socket:get_ssl_certificate()
  socket:close()
  if not cert then return nil end
  local out = stdnse.output_table()
  out.subject = cert.subject
  out.issuer = cert.issuer
  out.pubkey = cert.pubkey
  if #cert.alt_names > 0 then out.alt_names = cert.alt_names end
  out.sig_algo = cert.sig_algorithm
  out.validity = { notBefore = date(cert.validity.notBefore), notAfter = date(cert.validity.notAfter) }
  out.md5 = cert.md5
  out.sha1 = cert.sha1
  local lines = { "Subject: " .. name_text(cert.subject) }
  if #cert.alt_names > 0 then
    lines[#lines + 1] = "Subject Alternative Name: " .. table.concat(cert.alt_names, ", ")
  end
  -- nmap's short form (scripts a category brought in): the names and the dates.
  if nmap.verbosity() == 0 then
    lines[#lines + 1] = "Not valid before: " .. out.validity.notBefore
    lines[#lines + 1] = "Not valid after:  " .. out.validity.notAfter
    return out, table.concat(lines, "\n")
  end
  lines[#lines + 1] = "Issuer: " .. name_text(cert.issuer)
  lines[#lines + 1] = "Public Key type: " .. cert.pubkey.type
  if cert.pubkey.bits then lines[#lines + 1] = "Public Key bits: " .. cert.pubkey.bits end
  lines[#lines + 1] = "Signature Algorithm: " .. cert.sig_algorithm
  lines[#lines + 1] = "Not valid before: " .. out.validity.notBefore
  lines[#lines + 1] = "Not valid after:  " .. out.validity.notAfter
  lines[#lines + 1] = "MD5:   " .. cert.md5
  lines[#lines + 1] = "SHA-1: " .. cert.sha1
  return out, table.concat(lines, "\n")
end
